package deploy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// scaledObject is KEDA's keda.sh/v1alpha1 ScaledObject, the fields of its
// CRD schema this chart may use; strict decoding rejects any other.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// manifests is a rendered chart, decoded into Kubernetes' own types.
type manifests struct {
	deployments   map[string]appsv1.Deployment
	services      map[string]corev1.Service
	pdbs          map[string]policyv1.PodDisruptionBudget
	hpas          map[string]autoscalingv2.HorizontalPodAutoscaler
	secrets       map[string]corev1.Secret
	scaledObjects map[string]scaledObject
}

var testValues = map[string]any{
	"secrets": map[string]any{"databaseURL": "postgres://faultline:pw@pg:5432/faultline", "sessionSecretKey": testSecret},
}

func renderChart(t *testing.T, vals map[string]any) (manifests, error) {
	t.Helper()
	ch, err := loader.Load("helm/faultline")
	if err != nil {
		t.Fatal(err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = append(caps.APIVersions, "keda.sh/v1alpha1")
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "fl", Namespace: "errors", IsInstall: true}, caps)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return manifests{}, err
	}
	m := manifests{map[string]appsv1.Deployment{}, map[string]corev1.Service{}, map[string]policyv1.PodDisruptionBudget{},
		map[string]autoscalingv2.HorizontalPodAutoscaler{}, map[string]corev1.Secret{}, map[string]scaledObject{}}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for i, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s #%d: %v\n%s", name, i, err, doc)
			}
			where := fmt.Sprintf("%s #%d (%s)", name, i, tm.Kind)
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				decodeInto(t, where, doc, m.deployments)
			case "v1 Service":
				decodeInto(t, where, doc, m.services)
			case "policy/v1 PodDisruptionBudget":
				decodeInto(t, where, doc, m.pdbs)
			case "autoscaling/v2 HorizontalPodAutoscaler":
				decodeInto(t, where, doc, m.hpas)
			case "v1 Secret":
				decodeInto(t, where, doc, m.secrets)
			case "keda.sh/v1alpha1 ScaledObject":
				decodeInto(t, where, doc, m.scaledObjects)
			default:
				t.Errorf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
			}
		}
	}
	return m, nil
}

type named interface{ GetName() string }

// decodeInto decodes doc strictly (an unknown or misplaced field fails) and
// files it by name.
func decodeInto[T any, PT interface {
	*T
	named
}](t *testing.T, where, doc string, into map[string]T) {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
		t.Errorf("%s does not match the schema: %v\n%s", where, err, doc)
		return
	}
	name := PT(&v).GetName()
	if _, dup := into[name]; dup || name == "" {
		t.Errorf("%s: name %q empty or used twice", where, name)
	}
	into[name] = v
}

// consumerRoles are the roles that read a durable JetStream consumer, with
// its stream.
var consumerRoles = map[string][2]string{
	"grouping":   {"INGEST", "grouping"},
	"alerting":   {"EVENTS", "alerting"},
	"analytics":  {"EVENTS", "analytics"},
	"sourcemaps": {"SOURCEMAPS", "sourcemaps"},
}

func TestHelmChart(t *testing.T) {
	vals := map[string]any{"clickhouseURL": "clickhouse://ch:9000/faultline"}
	for k, v := range testValues {
		vals[k] = v
	}
	m, err := renderChart(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	secret, ok := m.secrets["fl-faultline-secrets"]
	if !ok || secret.StringData["DATABASE_URL"] == "" || len(secret.StringData["SESSION_SECRET_KEY"]) < 64 {
		t.Errorf("secret: %+v", m.secrets)
	}
	for _, role := range roles {
		name := "fl-faultline-" + role
		d, ok := m.deployments[name]
		if !ok {
			t.Errorf("no Deployment for %s", role)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) || sel.Empty() {
			t.Errorf("%s: selector %v does not pick its pods %v", name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		pod := d.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers", name, len(pod.Containers))
		}
		c := pod.Containers[0]
		if !slices.Equal(c.Args, []string{role}) {
			t.Errorf("%s: args %q", name, c.Args)
		}
		probe := func(p *corev1.Probe, what, path string) {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
				t.Errorf("%s: %s probe %+v, want GET %s on http", name, what, p, path)
			}
		}
		probe(c.LivenessProbe, "liveness", "/healthz")
		probe(c.ReadinessProbe, "readiness", "/readyz")
		if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
			t.Errorf("%s: ports %+v", name, c.Ports)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		for _, k := range []string{"DATABASE_URL", "SESSION_SECRET_KEY"} {
			ref := env[k].ValueFrom
			if env[k].Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secret.Name || ref.SecretKeyRef.Key != k {
				t.Errorf("%s: %s is not from the secret: %+v", name, k, env[k])
			}
		}
		if env["INGEST_REPLICAS"].Value != "3" || strings.Count(env["NATS_URL"].Value, "nats://") != 3 {
			t.Errorf("%s: INGEST_REPLICAS %q, NATS_URL %q", name, env["INGEST_REPLICAS"].Value, env["NATS_URL"].Value)
		}
		if _, ok := env["CLICKHOUSE_URL"]; ok != (role == "analytics") {
			t.Errorf("%s: CLICKHOUSE_URL set %v", name, ok)
		}
		psc, sc := pod.SecurityContext, c.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
			sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: not locked down: pod %+v, container %+v", name, psc, sc)
		}

		svc, ok := m.services[name]
		if !ok || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) ||
			len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
			t.Errorf("%s: Service %+v does not reach the pods", name, svc.Spec)
		}
		pdb, ok := m.pdbs[name]
		if !ok {
			t.Errorf("%s: no PodDisruptionBudget", name)
		} else if s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !s.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: the PodDisruptionBudget does not cover the pods", name)
		}
		// Another role's pods must not be counted as this one's.
		for other, od := range m.deployments {
			if other != name && sel.Matches(labels.Set(od.Spec.Template.Labels)) {
				t.Errorf("%s's selector picks %s's pods", name, other)
			}
		}

		hpa, hasHPA := m.hpas[name]
		so, hasSO := m.scaledObjects[name]
		if hasHPA && hasSO {
			t.Errorf("%s: an HPA and a ScaledObject fight over the replicas", name)
		}
		if (hasHPA || hasSO) && d.Spec.Replicas != nil {
			t.Errorf("%s: autoscaled, yet the Deployment sets replicas (each upgrade would reset them)", name)
		}
		if want, ok := consumerRoles[role]; ok {
			if !hasSO {
				t.Errorf("%s: no KEDA ScaledObject", name)
				continue
			}
			if so.Spec.ScaleTargetRef.Kind != "Deployment" || so.Spec.ScaleTargetRef.Name != name || len(so.Spec.Triggers) != 1 {
				t.Errorf("%s: ScaledObject %+v", name, so.Spec)
				continue
			}
			tr := so.Spec.Triggers[0]
			md := tr.Metadata
			if tr.Type != "nats-jetstream" || md["stream"] != want[0] || md["consumer"] != want[1] ||
				md["natsServerMonitoringEndpoint"] == "" || md["account"] == "" || md["lagThreshold"] == "" {
				t.Errorf("%s: trigger %+v, want nats-jetstream on %s/%s", name, tr, want[0], want[1])
			}
			if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 {
				t.Errorf("%s: may scale to zero; a role with no replica is not ready for its own work", name)
			}
		}
		if role == "gateway" {
			if !hasHPA || hpa.Spec.ScaleTargetRef.Name != name || len(hpa.Spec.Metrics) != 1 ||
				hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
				t.Errorf("gateway: HPA on CPU missing: %+v", hpa.Spec)
			}
			if c.Resources.Requests.Cpu().IsZero() {
				t.Error("gateway: no CPU request, so an HPA on CPU utilisation cannot work")
			}
		}
	}
	if len(m.deployments) != len(roles) || len(m.scaledObjects) != len(consumerRoles) || len(m.hpas) != 1 {
		t.Errorf("%d deployments, %d scaled objects, %d HPAs", len(m.deployments), len(m.scaledObjects), len(m.hpas))
	}
}

func TestHelmChartOptions(t *testing.T) {
	// Without ClickHouse there is no analytics role at all.
	m, err := renderChart(t, testValues)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []map[string]bool{keys(m.deployments), keys(m.services), keys(m.pdbs), keys(m.scaledObjects)} {
		if kind["fl-faultline-analytics"] {
			t.Error("analytics rendered without clickhouseURL")
		}
	}
	// A secret of the operator's replaces the chart's.
	m, err = renderChart(t, map[string]any{"secrets": map[string]any{"existingSecret": "mine"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.secrets) != 0 {
		t.Errorf("secrets rendered beside existingSecret: %v", keys(m.secrets))
	}
	for name, d := range m.deployments {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "DATABASE_URL" && e.ValueFrom.SecretKeyRef.Name != "mine" {
				t.Errorf("%s reads DATABASE_URL from %s", name, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	// Without either, rendering fails and says what is missing.
	if _, err := renderChart(t, nil); err == nil || !strings.Contains(err.Error(), "secrets.databaseURL is required") {
		t.Errorf("no secret values: err = %v", err)
	}
}

func keys[V any](m map[string]V) map[string]bool {
	k := map[string]bool{}
	for n := range m {
		k[n] = true
	}
	return k
}
