"""The submission the admission core decides on: a job spec with its pod sets.

Self-contained frozen pydantic v2 models. Every field is bounded (length, range, count)
and unknown fields are refused, so a typo such as `priviledged: true` is a schema error
instead of a silently ignored flag. Scalars are strict: `"3"` or `true` is not a count.
Optional fields (`queue`, `priority_class`, `resources.*`, `max_runtime_s`) are the ones
policy defaults fill in; after `apply_defaults` they are all set.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator

# DNS-1123 label: org, team, queue, priority class, pod set names.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
WORKLOAD_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_GPU_MODEL = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
# OCI image reference (distribution/reference grammar), checked by the Rust regex engine,
# which runs in linear time, so hostile input cannot cause catastrophic backtracking.
_DOMAIN = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
_IMAGE = (
    rf"^({_DOMAIN}/)?{_COMPONENT}(/{_COMPONENT})*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,128})?$"
)

Name = Annotated[str, Strict(), Field(pattern=_DNS_LABEL, max_length=63)]
LabelKey = Annotated[str, Strict(), Field(pattern=_LABEL_KEY, max_length=317)]
LabelValue = Annotated[str, Strict(), Field(pattern=_LABEL_VALUE, max_length=63)]


def _sorted(mapping: dict[str, str]) -> dict[str, str]:
    # Key order carries no meaning; sorting makes the JSON dump (and its digest) canonical.
    return dict(sorted(mapping.items()))


Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=64), AfterValidator(_sorted)]
NodeSelector = Annotated[dict[LabelKey, LabelValue], Field(max_length=32), AfterValidator(_sorted)]

MAX_PODS_PER_SET = 100_000
MAX_CPU_MILLI = 10_000_000  # 10k cores per pod is already absurd; bounds the arithmetic
MAX_MEMORY_MIB = 100_000_000
MAX_GPUS_PER_POD = 1_024
MAX_RUNTIME_S = 366 * 24 * 3600


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tenant(_Frozen):
    """Who owns the workload: an org and one of its teams."""

    org: Name  # the organisation (top of the cohort tree)
    team: Name  # the team inside the org that owns the work

    def __str__(self) -> str:
        return f"{self.org}/{self.team}"


class Resources(_Frozen):
    """Per-pod resource requests; a field left out is filled from policy defaults."""

    cpu_milli: Annotated[int, Strict(), Field(ge=0, le=MAX_CPU_MILLI)] | None = None  # thousandths of a core
    memory_mib: Annotated[int, Strict(), Field(ge=0, le=MAX_MEMORY_MIB)] | None = None  # memory in MiB
    gpu_count: Annotated[int, Strict(), Field(ge=0, le=MAX_GPUS_PER_POD)] | None = None  # whole GPUs
    gpu_milli: Annotated[int, Strict(), Field(ge=0, le=1000)] | None = None  # share of one GPU
    gpu_model: Annotated[str, Strict(), Field(pattern=_GPU_MODEL)] | None = None  # e.g. "H100"

    @model_validator(mode="after")
    def _whole_or_fractional(self) -> Resources:
        if self.gpu_count and self.gpu_milli:
            raise ValueError("request either whole GPUs (gpu_count) or a GPU share (gpu_milli), not both")
        return self

    def gpu_milli_total(self) -> int:
        """Returns the GPU request of one pod in thousandths of a GPU."""
        return (self.gpu_count or 0) * 1000 + (self.gpu_milli or 0)


class Toleration(_Frozen):
    """A Kubernetes-shaped toleration of a node taint."""

    key: LabelKey | None = None  # taint key; None with Exists tolerates every taint
    operator: Literal["Exists", "Equal"] = "Equal"  # how `value` is compared
    value: LabelValue = ""  # taint value for Equal
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = ""  # "" means all effects

    @model_validator(mode="after")
    def _kubernetes_rules(self) -> Toleration:
        if self.operator == "Equal" and self.key is None:
            raise ValueError("operator Equal needs a key")
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists takes no value")
        return self


class TopologyRequirement(_Frozen):
    """How tightly the pods of a pod set must be packed."""

    level: Literal["zone", "block", "rack", "host"]  # the topology domain to pack into
    mode: Literal["required", "preferred"] = "required"  # hard constraint or best effort


class PodSet(_Frozen):
    """A group of identical pods; the gang is all pod sets of a job together."""

    name: Name  # unique within the job
    count: Annotated[int, Strict(), Field(ge=1, le=MAX_PODS_PER_SET)]  # pods wanted
    min_count: Annotated[int, Strict(), Field(ge=1, le=MAX_PODS_PER_SET)] | None = None  # elastic floor
    image: Annotated[str, Strict(), Field(pattern=_IMAGE, max_length=512)]  # container image reference
    resources: Resources = Resources()  # per-pod requests; omitted fields are defaulted
    privileged: Annotated[bool, Strict()] = False  # privileged container
    host_network: Annotated[bool, Strict()] = False  # pod shares the node's network namespace
    host_pid: Annotated[bool, Strict()] = False  # pod shares the node's PID namespace
    host_path: Annotated[bool, Strict()] = False  # pod mounts a hostPath volume
    node_selector: NodeSelector = {}  # required node labels
    tolerations: Annotated[tuple[Toleration, ...], Field(max_length=32)] = ()  # taints tolerated
    topology: TopologyRequirement | None = None  # packing requirement, None for anywhere

    @model_validator(mode="after")
    def _min_within_count(self) -> PodSet:
        if self.min_count is not None and self.min_count > self.count:
            raise ValueError(f"min_count ({self.min_count}) exceeds count ({self.count})")
        return self


class JobSpec(_Frozen):
    """A submitted job: the unit admission accepts or rejects as a whole."""

    workload_id: Annotated[str, Strict(), Field(pattern=WORKLOAD_ID)]  # unique id, the Kafka key
    tenant: Tenant  # the org/team the job runs as; must match the caller's token
    queue: Name | None = None  # local queue; defaulted from policy
    priority_class: Name | None = None  # priority class; defaulted from policy
    labels: Labels = {}  # workload labels (cost centre, project, ...)
    pod_sets: Annotated[tuple[PodSet, ...], Field(min_length=1, max_length=16)]  # the gang
    max_runtime_s: Annotated[int, Strict(), Field(ge=1, le=MAX_RUNTIME_S)] | None = None  # wall-clock cap

    @model_validator(mode="after")
    def _unique_pod_set_names(self) -> JobSpec:
        names = [p.name for p in self.pod_sets]
        if len(set(names)) != len(names):
            raise ValueError("pod set names must be unique within a job")
        return self

    def total_pods(self) -> int:
        """Returns the number of pods of the whole gang at full size."""
        return sum(p.count for p in self.pod_sets)

    def total_gpu_milli(self) -> int:
        """Returns the GPU request of the whole gang in thousandths of a GPU."""
        return sum(p.count * p.resources.gpu_milli_total() for p in self.pod_sets)


def image_repository(image: str) -> str:
    """Returns `registry/repository` of an image reference, without tag or digest.

    Follows the Docker rules: the first path component is a registry only if it has a
    '.' or ':' or is 'localhost'; otherwise the image lives on docker.io.
    """
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition("/")
    name = f"{head}/{tail.split(':', 1)[0]}" if head else name.split(":", 1)[0]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{first.lower()}/{rest}"
    return f"docker.io/{name}" if sep else f"docker.io/library/{name}"
