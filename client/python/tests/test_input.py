"""input_required results and their retry, against the real daemon and the fixture's need_input tool."""
import asyncio

import mcppool

PARAMS = {"name": "need_input", "arguments": {"rounds": 2, "kinds": "form,roots"}}
ANSWERED = {"form": {"action": "accept", "content": {"name": "octocat", "age": 42,
                                                     "subscribe": True, "color": "green"}},
            "roots": {"roots": []}}


def answer(result):
    """Accepts every form with its defaults, answers roots/list with no roots."""
    answers = {}
    for key, req in (result.get("inputRequests") or {}).items():
        if req["method"] == "roots/list":
            answers[key] = {"roots": []}
            continue
        props = req["params"]["requestedSchema"]["properties"]
        answers[key] = {"action": "accept",
                        "content": {k: p["default"] for k, p in props.items() if "default" in p}}
    return answers


def test_an_input_required_result_is_the_call_result(daemon):
    with mcppool.Pool(daemon.sock) as p:
        r = p.call("alice", "fx", "need_input")
    assert r["resultType"] == "input_required"
    assert r["requestState"] == "need_input/round=1"
    assert r["inputRequests"]["form"]["method"] == "elicitation/create"


def test_sync_request_retries_with_the_answers_in_params_until_complete(daemon):
    params = {"name": "need_input", "arguments": {"rounds": 2, "kinds": "form,roots"}}
    with mcppool.Pool(daemon.sock) as p:
        r = p.request("alice", "fx", "tools/call", params)
        rounds = 0
        while r.get("resultType") == "input_required":
            r = p.request("alice", "fx", "tools/call", params, input_responses=answer(r),
                          request_state=r["requestState"])
            rounds += 1
    assert rounds == 2
    assert r["structuredContent"] == {"inputResponses": ANSWERED, "rounds": 2}
    assert params == PARAMS, "the caller's params are left as they were"


def test_async_request_retries_with_the_answers_in_params_until_complete(daemon):
    async def main():
        async with await mcppool.AsyncPool.connect(daemon.sock) as p:
            r = await p.request("alice", "fx", "tools/call", PARAMS)
            while r.get("resultType") == "input_required":
                r = await p.request("alice", "fx", "tools/call", PARAMS,
                                    input_responses=answer(r), request_state=r["requestState"])
            return r
    r = asyncio.run(asyncio.wait_for(main(), 30))
    assert r["structuredContent"] == {"inputResponses": ANSWERED, "rounds": 2}


def test_call_retries_with_input_responses_and_request_state(daemon):
    with mcppool.Pool(daemon.sock) as p:
        first = p.call("alice", "fx", "need_input")
        r = p.call("alice", "fx", "need_input", input_responses={"form": {"action": "decline"}},
                   request_state=first["requestState"])
    assert r.get("resultType") != "input_required", "the retry's answers did not reach the server"
    assert r["structuredContent"]["inputResponses"] == {"form": {"action": "decline"}}
