"""An example warden plugin in Python.

Build and pack it (see docs/plugins.md):

    componentize-py -d ../../wit -w plugin-without-process componentize app -o raw.wasm
    warden plugin pack raw.wasm --manifest warden.toml -o pynotes.wasm
    warden plugin install pynotes.wasm --grant file:notes:read --yes
    warden call pynotes.read --input '{"path":"notes/todo.txt"}'
"""

import json
import os

from wit_world import exports
from wit_world.exports import tool
from wit_world.imports import log
from componentize_py_types import Err

# Bytes of a note returned at most: the host caps a plugin's output too, and
# saying so here gives the caller a clear answer instead.
MAX_NOTE_BYTES = 64 * 1024


def schema(**fields):
    return json.dumps({
        "type": "object",
        "properties": {name: {"type": "string", "description": why} for name, why in fields.items()},
        "required": list(fields),
        "additionalProperties": False,
    })


def failed(message):
    return Err(tool.ToolError_Failed(message))


class Tool(exports.Tool):
    def describe(self):
        return [
            tool.ToolInfo(
                name="read",
                description="Read a text note (a workspace-relative path).",
                input_schema=schema(path="The note, relative to the workspace."),
            ),
            tool.ToolInfo(
                name="list",
                description="List the entries of a directory of the workspace.",
                input_schema=schema(path="The directory, relative to the workspace."),
            ),
        ]

    def call(self, name, input):
        try:
            args = json.loads(input)
        except ValueError as e:
            raise Err(tool.ToolError_InvalidInput(f"not JSON: {e}"))
        path = args.get("path") if isinstance(args, dict) else None
        if not isinstance(path, str):
            raise Err(tool.ToolError_InvalidInput("`path` must be a string"))
        log.log(log.Level.DEBUG, f"{name} {path}")
        try:
            if name == "read":
                with open(path, "rb") as f:
                    data = f.read(MAX_NOTE_BYTES + 1)
                if len(data) > MAX_NOTE_BYTES:
                    raise failed(f"{path} is over {MAX_NOTE_BYTES} bytes")
                return json.dumps({"path": path, "text": data.decode("utf-8", "replace")})
            if name == "list":
                return json.dumps({"path": path, "entries": sorted(os.listdir(path))})
        except FileNotFoundError:
            raise Err(tool.ToolError_NotFound(path))
        except OSError as e:
            # A refusal by warden arrives as EPERM; warden records which
            # grant would allow it, so the text here only names the path.
            raise failed(f"{path}: {e.strerror}")
        raise Err(tool.ToolError_NotFound(f"no tool named {name}"))
