// An example warden plugin in JavaScript. Build it with
// `node componentize.mjs`, then `warden plugin pack` (see docs/plugins.md).
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

// Bytes of a note returned at most.
const MAX_NOTE_BYTES = 64 * 1024;

const schema = JSON.stringify({
  type: 'object',
  properties: { path: { type: 'string', description: 'The note, relative to the workspace.' } },
  required: ['path'],
  additionalProperties: false,
});

// The workspace is always the preopen named `.`.
function workspace() {
  const found = getDirectories().find(([, name]) => name === '.');
  if (!found) throw { tag: 'failed', val: 'no workspace is open' };
  return found[0];
}

// A WASI error code (`not-permitted`, `no-entry`, ...) as a tool error; a
// refusal by warden is also recorded by warden with the grant to give.
function toolError(path, e) {
  const code = e && e.payload !== undefined ? e.payload : String(e);
  if (code === 'no-entry') return { tag: 'not-found', val: path };
  return { tag: 'failed', val: `${path}: ${code}` };
}

export const tool = {
  describe() {
    return [{ name: 'read', description: 'Read a text note (a workspace-relative path).', inputSchema: schema }];
  },
  call(name, input) {
    if (name !== 'read') throw { tag: 'not-found', val: `no tool named ${name}` };
    let path;
    try {
      path = JSON.parse(input).path;
    } catch (e) {
      throw { tag: 'invalid-input', val: `not JSON: ${e}` };
    }
    if (typeof path !== 'string') throw { tag: 'invalid-input', val: '`path` must be a string' };
    let file;
    try {
      file = workspace().openAt({ symlinkFollow: true }, path, {}, { read: true });
    } catch (e) {
      throw toolError(path, e);
    }
    const size = file.stat().size;
    if (size > BigInt(MAX_NOTE_BYTES)) throw { tag: 'failed', val: `${path} is over ${MAX_NOTE_BYTES} bytes` };
    const [bytes] = file.read(size, 0n);
    return JSON.stringify({ path, text: new TextDecoder().decode(bytes) });
  },
};
