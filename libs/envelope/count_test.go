package envelope

import "testing"

func TestItemCountIsCounted(t *testing.T) {
	tests := []struct {
		name, env string
		want      int
	}{
		{"claims a million, holds one", "{}\n{\"type\":\"log\",\"item_count\":1000000}\n{\"items\":[{\"body\":\"x\"}]}\n", 1},
		{"claims one, holds three", "{}\n{\"type\":\"span\",\"item_count\":1}\n{\"items\":[1,{\"a\":[2]},\"3\"]}\n", 3},
		{"no items array", "{}\n{\"type\":\"otel_span\"}\n{\"name\":\"x\",\"items\":7}\n", 1},
		{"repeated items: the last", "{}\n{\"type\":\"trace_metric\"}\n{\"items\":[1,2],\"x\":{},\"items\":[1,2,3,4]}\n", 4},
	}
	for _, tt := range tests {
		env, err := Parse([]byte(tt.env), DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, n := env.Items[0].Category(); n != tt.want {
			t.Errorf("%s: quantity %d, want %d", tt.name, n, tt.want)
		}
	}
	env, _ := Parse([]byte("{}\n{\"type\":\"event\",\"item_count\":5}\n{}\n"), DefaultLimits)
	if env.Items[0].ItemCount != 0 {
		t.Errorf("event's ItemCount = %d, want 0", env.Items[0].ItemCount)
	}
}
