package grouping

import (
	"math"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// hllP is the HyperLogLog precision: 2^10 registers of one byte, a standard
// error of about 3%. Small sets are counted almost exactly through linear
// counting.
const (
	hllP = 10
	hllM = 1 << hllP
)

// hll is a HyperLogLog sketch of user keys. Merging is a register-wise
// maximum, so an issue's count does not depend on the order or the batching
// of its events: the property that lets replicas agree.
type hll []byte

func newHLL() hll { return make(hll, hllM) }

// hllFrom returns b as a sketch, or an empty one when b is not one.
func hllFrom(b []byte) hll {
	if len(b) != hllM {
		return newHLL()
	}
	return hll(append([]byte(nil), b...))
}

func (h hll) add(key string) {
	x := xxhash.Sum64String(key)
	idx := x >> (64 - hllP)
	rho := uint8(bits.LeadingZeros64(x<<hllP|1<<(hllP-1)) + 1)
	if rho > h[idx] {
		h[idx] = rho
	}
}

func (h hll) merge(o hll) {
	for i, r := range o {
		if r > h[i] {
			h[i] = r
		}
	}
}

func (h hll) estimate() int64 {
	var sum float64
	zeros := 0
	for _, r := range h {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllM)
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return int64(math.Round(e))
}
