// The job operators whose CRDs batchyard's tests install (never built: only their CRD files are read from the
// module cache by libs/localinfra/kube_crds.py). Pinned here with their checksums in go.sum.
module batchyard.dev/operator-crds

go 1.26.0

require (
	github.com/kubeflow/spark-operator/v2 v2.5.0
	github.com/kubeflow/training-operator v1.9.3
	github.com/ray-project/kuberay/ray-operator v1.6.0
	sigs.k8s.io/kueue v0.17.0
	sigs.k8s.io/kwok v0.8.0
)
