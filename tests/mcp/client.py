"""Drive `warden mcp` with the official MCP Python SDK and report what it saw.

Usage:
  client.py stdio WORKSPACE -- COMMAND [ARGS...]
  client.py http WORKSPACE URL TOKEN
  client.py revoke WORKSPACE -- WARDEN mcp
  client.py features WORKSPACE -- WARDEN mcp
  client.py approve WORKSPACE -- WARDEN mcp --approval ask
  client.py unasked WORKSPACE -- WARDEN mcp [ARGS...]
  client.py notify WORKSPACE -- WARDEN mcp

`revoke` changes spawner's grant and then removes it with the real WARDEN
binary while the server runs, calling between each step. `features` checks
structured results against the output schemas, the annotations (and how
they change with the grant, announced by `notifications/tools/list_changed`)
and the resources. `approve` answers warden's
elicitation requests from a script; `unasked` is a client without
elicitation.

Prints one JSON object; tests/suite/mcp.rs asserts on it. Exits 2 when the
SDK is missing, so the Rust test can say how to install it.
"""

import json
import os
import subprocess
import sys

try:
    import anyio
    import httpx2
    import jsonschema
    import mcp.types as mtypes
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
except ImportError as e:  # pragma: no cover - reported by the Rust test
    print(f"the MCP Python SDK is missing ({e}); install it with: pip install mcp==2.3.0", file=sys.stderr)
    sys.exit(2)


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def exercise(session, workspace):
    out = {}
    await session.initialize()
    tools = await session.list_tools()
    out["tools"] = sorted(t.name for t in tools.tools)
    out["read_schema"] = next(t.input_schema for t in tools.tools if t.name == "fs__read")

    r = await session.call_tool("fs__read", {"path": "a.txt"})
    out["read"] = {"is_error": bool(r.is_error), "text": text_of(r)}

    r = await session.call_tool("edit__write", {"path": ".git/config", "content": "pwned"})
    out["denied"] = {"is_error": bool(r.is_error), "text": text_of(r)}

    # A plugin flooding its stdout must not reach the protocol stream.
    r = await session.call_tool("hostile__shout", {})
    out["shout"] = {"is_error": bool(r.is_error), "text": text_of(r)}

    r = await session.call_tool("nosuch__tool", {})
    out["unknown"] = {"is_error": bool(r.is_error), "text": text_of(r)}
    r = await session.call_tool("fs__raed", {})
    out["mistyped"] = {"is_error": bool(r.is_error), "text": text_of(r)}

    # Cancellation: the SDK abandons the call after 0.5 s and sends
    # notifications/cancelled; the server must drop the call, which kills
    # the child's process tree long before the call's own 10 s deadline.
    # The child is seen running by its command line: its writes land in
    # the workspace only when it exits under warden, never when cancelled.
    seen = {"alive": False}

    async def watch():
        for _ in range(100):
            if subprocess.run(["pgrep", "-fx", "sleep 4711"], capture_output=True).stdout:
                seen["alive"] = True
                return
            await anyio.sleep(0.05)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        try:
            await session.call_tool(
                "spawner__run",
                {"program": "sh", "args": ["-c", "exec sleep 4711"]},
                read_timeout_seconds=0.5,
            )
            out["cancel"] = "the call was not abandoned"
        except Exception as e:  # the SDK's timeout error
            out["cancel"] = type(e).__name__
    gone = False
    for _ in range(40):
        alive = subprocess.run(["pgrep", "-f", "sleep 4711"], capture_output=True).stdout
        if not alive:
            gone = True
            break
        await anyio.sleep(0.1)
    out["child_started"] = seen["alive"]
    out["child_gone_after_cancel"] = gone

    # A looping tool is stopped at its deadline (hostile's is 2 s) while
    # other calls keep being answered.
    spin = {}
    reads_during_spin = []

    async def run_spin():
        r = await session.call_tool("hostile__spin", {})
        spin["is_error"] = bool(r.is_error)
        spin["text"] = text_of(r)
        spin["done_at"] = anyio.current_time()

    async def read_meanwhile():
        await anyio.sleep(0.2)
        for _ in range(10):
            r = await session.call_tool("fs__read", {"path": "a.txt"})
            reads_during_spin.append((not r.is_error, anyio.current_time()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_spin)
        tg.start_soon(read_meanwhile)
    out["spin"] = {"is_error": spin["is_error"], "text": spin["text"]}
    out["reads_during_spin_ok"] = all(ok for ok, _ in reads_during_spin) and len(reads_during_spin) == 10
    out["reads_finished_before_spin"] = sum(1 for _, t in reads_during_spin if t < spin["done_at"])

    # 100 calls at once: all answered (they queue for instance slots).
    results = []

    async def one(i):
        r = await session.call_tool("fs__read", {"path": "a.txt"})
        results.append(not r.is_error and '"content":"hi"' in text_of(r))

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(one, i)
    out["concurrent_ok"] = sum(results)

    r = await session.call_tool("fs__read", {"path": "a.txt"})
    out["after"] = {"is_error": bool(r.is_error), "text": text_of(r)}
    return out


async def revoke(session, workspace, warden):
    out = {}
    await session.initialize()

    def run(*args):
        p = subprocess.run([warden, *args], capture_output=True, text=True)
        return {"code": p.returncode, "stderr": p.stderr}

    async def names():
        return sorted(t.name for t in (await session.list_tools()).tools)

    async def call(name, arguments):
        r = await session.call_tool(name, arguments)
        return {"is_error": bool(r.is_error), "text": text_of(r)}

    # Each run that happens leaves a line in calls.txt.
    sh = {"program": "sh", "args": ["-c", "echo ran >> calls.txt; echo granted"]}
    out["tools_before"] = await names()
    out["before"] = await call("spawner__run", sh)
    out["revoke"] = run("plugin", "grant", "spawner", "--none")
    out["revoked"] = await call("spawner__run", sh)
    out["tools_revoked"] = await names()
    out["read_after_revoke"] = await call("fs__read", {"path": "a.txt"})
    out["regrant"] = run("plugin", "grant", "spawner", "--grant", "file:.:write", "--grant", "program:sh")
    out["tools_regranted"] = await names()
    out["regranted"] = await call("spawner__run", sh)
    out["remove"] = run("plugin", "remove", "spawner")
    out["removed"] = await call("spawner__run", sh)
    out["tools_removed"] = await names()
    out["read_after_remove"] = await call("fs__read", {"path": "a.txt"})
    return out


def run_warden(warden, *args):
    p = subprocess.run([warden, *args], capture_output=True, text=True)
    return {"code": p.returncode, "stderr": p.stderr}


def hints(tool):
    a = tool.annotations
    if a is None:
        return None
    return {
        "readOnly": a.read_only_hint,
        "destructive": a.destructive_hint,
        "idempotent": a.idempotent_hint,
        "openWorld": a.open_world_hint,
    }


class ListChanges:
    """Counts `notifications/tools/list_changed` from the server."""

    def __init__(self):
        self.count = 0
        self.event = anyio.Event()

    async def handler(self, message):
        inner = getattr(message, "root", message)
        if getattr(inner, "method", None) == "notifications/tools/list_changed":
            self.count += 1
            self.event.set()


async def features(session, workspace, warden, changes):
    """Structured results, annotations and resources."""
    out = {}
    await session.initialize()
    listed = (await session.list_tools()).tools
    out["names"] = sorted(t.name for t in listed)
    out["descriptions"] = {t.name: t.description for t in listed}
    out["titles"] = {t.name: t.title for t in listed}
    out["output_schemas"] = {t.name: t.output_schema for t in listed}
    out["hints"] = {t.name: hints(t) for t in listed}
    schemas = {t.name: t.output_schema for t in listed}

    # Every result is checked by the SDK against the tool's output schema
    # (it raises otherwise), and here again explicitly.
    calls = {
        "fs__read": {"path": "a.txt"},
        "fs__list": {"path": "."},
        "fs__glob": {"pattern": "*.txt"},
        "search__search": {"pattern": "hi"},
        "edit__write": {"path": "from-mcp.txt", "content": "from mcp\n"},
        "spawner__run": {"program": "sh", "args": ["-c", "echo ran"]},
    }
    results = {}
    for name, arguments in calls.items():
        r = await session.call_tool(name, arguments)
        entry = {"is_error": bool(r.is_error), "structured": r.structured_content, "text": text_of(r)}
        if schemas.get(name) is not None and r.structured_content is not None:
            jsonschema.validate(r.structured_content, schemas[name])
            entry["validated"] = True
        results[name] = entry
    out["results"] = results

    # Resources: the audit records of this session and the turn's diff.
    resources = (await session.list_resources()).resources
    out["resources"] = [{"uri": str(r.uri), "mime": r.mime_type} for r in resources]
    audit = await session.read_resource("warden://session/audit")
    out["audit"] = json.loads(audit.contents[0].text)
    turns = [str(r.uri) for r in resources if "/turns/" in str(r.uri)]
    out["diffs"] = {}
    for uri in turns:
        d = await session.read_resource(uri)
        out["diffs"][uri] = d.contents[0].text
    try:
        await session.read_resource("warden://session/turns/999")
        out["missing_resource"] = "no error"
    except Exception as e:
        out["missing_resource"] = str(e)

    # The grant changes while the server runs: the annotations follow, and
    # the server says so without being asked (nothing the calls above did
    # changed the list).
    out["list_changed_before_grants"] = changes.count
    out["narrow_edit"] = run_warden(warden, "plugin", "grant", "edit", "--grant", "file:.:read")
    out["spawner_reads"] = run_warden(
        warden, "plugin", "grant", "spawner", "--grant", "file:.:read", "--grant", "program:sh"
    )
    out["grant_fetch"] = run_warden(warden, "plugin", "grant", "fetch", "--add", "--grant", "net:https://docs.rs")
    try:
        with anyio.fail_after(30):
            await changes.event.wait()
    except TimeoutError:
        pass
    out["list_changed"] = changes.count
    listed = (await session.list_tools()).tools
    out["hints_after"] = {t.name: hints(t) for t in listed}
    out["descriptions_after"] = {t.name: t.description for t in listed}
    r = await session.call_tool("fs__read", {"path": "a.txt"})
    out["after"] = {"is_error": bool(r.is_error), "text": text_of(r)}
    return out


def scripted_elicitation(answers, asked):
    """Answer each elicitation with the next scripted answer: `yes`,
    `always` or `no` accept with that choice; `decline` and `cancel` are
    the actions."""

    async def callback(context, params):
        asked.append({"message": params.message, "schema": params.requested_schema})
        answer = answers.pop(0)
        if answer in ("decline", "cancel"):
            return mtypes.ElicitResult(action=answer)
        return mtypes.ElicitResult(action="accept", content={"answer": answer})

    return callback


async def approve(params, workspace):
    """`warden mcp --approval ask` with a person answering through the
    client: every call that writes, runs a program or reaches the network
    is asked about; reads are not."""
    out = {}
    asked = []
    answers = ["yes", "decline", "cancel", "no", "always", "no", "no"]

    async def call(session, name, arguments):
        before = len(asked)
        r = await session.call_tool(name, arguments)
        return {
            "is_error": bool(r.is_error),
            "text": text_of(r),
            "asked": [a["message"] for a in asked[before:]],
        }

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=scripted_elicitation(answers, asked)) as session:
            await session.initialize()
            out["read"] = await call(session, "fs__read", {"path": "a.txt"})
            out["yes"] = await call(session, "edit__write", {"path": "yes.txt", "content": "approved\n"})
            out["decline"] = await call(session, "edit__write", {"path": "declined.txt", "content": "x"})
            out["cancel"] = await call(session, "edit__write", {"path": "cancelled.txt", "content": "x"})
            out["no"] = await call(session, "edit__write", {"path": "no.txt", "content": "x"})
            out["always"] = await call(session, "edit__write", {"path": "always.txt", "content": "always\n"})
            out["remembered"] = await call(session, "edit__write", {"path": "always.txt", "content": "always\n"})
            out["argv"] = await call(session, "exec__run", {"cmd": ["make", "--version"]})
            out["url"] = await call(session, "fetch__get", {"url": "https://docs.rs/warden-test"})
            out["after"] = await call(session, "fs__read", {"path": "a.txt"})
    # A new server for the same project remembers "always".
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=scripted_elicitation(["no"], asked)) as session:
            await session.initialize()
            out["next_server"] = await call(session, "edit__write", {"path": "always.txt", "content": "always\n"})
    out["schema"] = asked[0]["schema"] if asked else None
    out["unused_answers"] = answers
    return out


async def unasked(session, workspace):
    """A client that declares no elicitation."""
    out = {}
    await session.initialize()

    async def call(name, arguments):
        r = await session.call_tool(name, arguments)
        return {"is_error": bool(r.is_error), "text": text_of(r)}

    out["write"] = await call("edit__write", {"path": "unasked.txt", "content": "x"})
    out["run"] = await call("spawner__run", {"program": "sh", "args": ["-c", "echo ran > ran.txt"]})
    out["read"] = await call("fs__read", {"path": "a.txt"})
    return out


async def notify(params, workspace):
    """Log notifications at the chosen level, and progress."""
    out = {}
    logs = []

    async def on_log(p):
        logs.append({"level": p.level, "logger": p.logger, "data": p.data})

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            await session.initialize()

            async def chatter(key):
                before = len(logs)
                r = await session.call_tool("hostile__chatter", {"n": 3})
                # Notifications come before the result on the same stream.
                out[key] = {"is_error": bool(r.is_error), "logs": logs[before:]}

            await chatter("default_level")
            out["set_info"] = await session.set_logging_level("info")
            await chatter("info")
            await session.set_logging_level("error")
            await chatter("error")

            progress = []

            async def on_progress(value, total, message):
                progress.append({"progress": value, "total": total, "message": message})

            r = await session.call_tool(
                "spawner__run", {"program": "sh", "args": ["-c", "echo ran"]}, progress_callback=on_progress
            )
            out["progress_call"] = {"is_error": bool(r.is_error), "text": text_of(r)}
            out["progress"] = progress
            r = await session.call_tool("fs__read", {"path": "a.txt"})
            out["unasked_progress"] = {"is_error": bool(r.is_error)}
    out["set_info"] = out["set_info"].model_dump() if hasattr(out["set_info"], "model_dump") else str(out["set_info"])
    return out


async def main():
    mode, workspace = sys.argv[1], sys.argv[2]
    if mode == "notify":
        sep = sys.argv.index("--")
        command, args = sys.argv[sep + 1], sys.argv[sep + 2 :]
        params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
        out = await notify(params, workspace)
    elif mode in ("features", "approve", "unasked"):
        sep = sys.argv.index("--")
        command, args = sys.argv[sep + 1], sys.argv[sep + 2 :]
        params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
        if mode == "approve":
            out = await approve(params, workspace)
        else:
            changes = ListChanges()
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write, message_handler=changes.handler) as session:
                    if mode == "features":
                        out = await features(session, workspace, command, changes)
                    else:
                        out = await unasked(session, workspace)
    elif mode == "revoke":
        sep = sys.argv.index("--")
        command, args = sys.argv[sep + 1], sys.argv[sep + 2 :]
        params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await revoke(session, workspace, command)
    elif mode == "stdio":
        sep = sys.argv.index("--")
        command, args = sys.argv[sep + 1], sys.argv[sep + 2 :]
        params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await exercise(session, workspace)
    else:
        url, token = sys.argv[3], sys.argv[4]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    out = await exercise(session, workspace)
    print(json.dumps(out))


anyio.run(main)
