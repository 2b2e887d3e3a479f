"""The Kueue-shaped documents batchyard reads, as pydantic models: the file's schema, nothing more.

Field names are Kueue's (camelCase in the file). Unknown fields are refused (``not a Kueue field batchyard
reads``), and so are Kueue fields that would change admission if honoured but are not implemented (a field that
is empty, e.g. ``namespaceSelector: {}``, passes). A null means the field's default, as in Kueue.
What needs more than one field (flavors that exist, covered resources, limits) is checked in loader_specs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, StrictInt, StrictStr
from pydantic import ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from libs.quota.config import FungibilityPreference, PreemptionPolicy, QueueingStrategy, WhenCanBorrow, WhenCanPreempt
from libs.quota.quantity import QuantityError, parse_duration, parse_quantity


class Kueue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)

    @field_validator("*", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields[info.field_name]
        return field.get_default(call_default_factory=True) if value is None and not field.is_required() else value


def _quantity(value: Any) -> Any:
    try:
        parse_quantity("quantity", value)
    except QuantityError as exc:
        raise PydanticCustomError("quantity", str(exc).removeprefix("quantity: ")) from None
    return value


def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except QuantityError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def unsupported(why: str = "not supported by batchyard (docs/quota.md, Kueue compatibility)") -> Any:
    """Returns the type of a Kueue field batchyard refuses unless it is empty (or "None")."""
    def check(value: Any) -> None:
        if value and value != "None":
            raise PydanticCustomError("unsupported", why)
    return Annotated[Any, AfterValidator(check)]


Quantity = Annotated[Any, PlainValidator(_quantity)]  # a Kubernetes quantity, parsed per resource later
Duration = Annotated[Any, PlainValidator(_duration)]  # seconds, from "5m" or 300
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=253)]
Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Taint(Kueue):
    key: StrictStr
    value: StrictStr = ""
    effect: Effect = "NoSchedule"


class Toleration(Kueue):
    key: StrictStr = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: StrictStr = ""
    effect: Effect | Literal[""] = ""


class ResourceQuota(Kueue):
    name: Name
    nominal_quota: Quantity = 0
    borrowing_limit: Quantity | None = None
    lending_limit: Quantity | None = None


class FlavorQuotas(Kueue):
    name: Name
    resources: tuple[ResourceQuota, ...] = ()


class ResourceGroup(Kueue):
    covered_resources: tuple[Name, ...] = ()
    flavors: tuple[FlavorQuotas, ...] = ()


class FairSharing(Kueue):
    weight: Weight = 1.0


class BorrowWithinCohort(Kueue):
    policy: PreemptionPolicy = PreemptionPolicy.NEVER
    max_priority_threshold: StrictInt | None = None


class Preemption(Kueue):
    within_cluster_queue: PreemptionPolicy = PreemptionPolicy.NEVER
    reclaim_within_cohort: PreemptionPolicy = PreemptionPolicy.NEVER
    borrow_within_cohort: BorrowWithinCohort = BorrowWithinCohort()


class FlavorFungibility(Kueue):
    when_can_borrow: WhenCanBorrow = WhenCanBorrow.MAY_STOP_SEARCH
    when_can_preempt: WhenCanPreempt = WhenCanPreempt.TRY_NEXT_FLAVOR
    preference: FungibilityPreference | None = None


class AdmissionScope(Kueue):
    admission_mode: Literal["NoAdmissionFairSharing", "UsageBasedAdmissionFairSharing",
                            "UsageBasedFairSharing"] = "NoAdmissionFairSharing"


class ResourceFlavorSpec(Kueue):
    node_labels: dict[StrictStr, StrictStr] = {}
    node_taints: tuple[Taint, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    topology_name: unsupported() = None
    resource_weights: unsupported() = None


class CohortSpec(Kueue):
    parent_name: StrictStr | None = None
    parent: StrictStr | None = None  # the older name of parentName
    resource_groups: tuple[ResourceGroup, ...] = ()
    fair_sharing: FairSharing = FairSharing()


class ClusterQueueSpec(Kueue):
    cohort_name: StrictStr | None = None
    cohort: StrictStr | None = None  # v1beta1's name of cohortName
    resource_groups: tuple[ResourceGroup, ...] = ()
    queueing_strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    preemption: Preemption = Preemption()
    flavor_fungibility: FlavorFungibility = FlavorFungibility()
    fair_sharing: FairSharing = FairSharing()
    stop_policy: Literal["None", "Hold", "HoldAndDrain"] = "None"
    admission_scope: AdmissionScope = AdmissionScope()
    namespace_selector: unsupported() = None
    admission_checks: unsupported() = None
    admission_checks_strategy: unsupported() = None


class LocalQueueSpec(Kueue):
    cluster_queue: StrictStr | None = None
    fair_sharing: FairSharing = FairSharing()
    stop_policy: unsupported() = None


class Metadata(Kueue):
    name: Name | None = None
    namespace: Name | None = None
    labels: dict[StrictStr, StrictStr] = {}
    annotations: dict[StrictStr, StrictStr] = {}


class Document(Kueue):
    api_version: StrictStr | None = None
    kind: StrictStr
    metadata: Metadata = Metadata()


class ResourceFlavorDoc(Document):
    spec: ResourceFlavorSpec = ResourceFlavorSpec()


class CohortDoc(Document):
    spec: CohortSpec = CohortSpec()


class ClusterQueueDoc(Document):
    spec: ClusterQueueSpec = ClusterQueueSpec()


class LocalQueueDoc(Document):
    spec: LocalQueueSpec = LocalQueueSpec()


class PriorityClassDoc(Document):
    value: StrictInt = Field(ge=-(2**31), le=2**31 - 1)  # an int32, as in Kubernetes
    description: StrictStr | None = None
