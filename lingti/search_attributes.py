"""The custom search attributes TopicWorkflow sets, so topics are listable in the Temporal UI."""

from __future__ import annotations

TOPIC_SEARCH_ATTRIBUTES = ("TopicState", "TopicOrg", "TopicCategory")  # all Keyword


async def ensure_search_attributes(client, namespace: str) -> list[str]:
    """Register the topic search attributes on an existing cluster; return the ones added.

    The dev server registers them from its command line; an external cluster
    gets them here through the operator service. "Already exists" is success.
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = [name for name in TOPIC_SEARCH_ATTRIBUTES if name not in listed.custom_attributes]
    if not missing:
        return []
    request = AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing},
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as error:
        if error.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    return missing
