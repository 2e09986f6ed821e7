// mosaic's pi extension: tells mosaic what the agent is doing.
//
// pi loads TypeScript extensions per launch with `pi -e FILE`, or from the
// "extensions" array of ~/.pi/agent/settings.json; an extension default-exports
// a function that receives the ExtensionAPI and subscribes with pi.on(EVENT, handler).
// https://github.com/badlogic/pi-mono/blob/main/packages/coding-agent/docs/extensions.md
//
// agent_start and tool_execution_start: working; agent_end: idle; session_start:
// idle (the CLI is up and waits for a prompt). pi has no permission prompts by
// default, so this extension never reports waiting.
//
// The hook program is the mosaic-hb executable shipped in the same package
// directory as this file: `mosaic-hb state STATE`. It takes the agent and the
// run dir from the environment (MOSAIC_AGENT_NAME, MOSAIC_HEARTBEAT_RUN_DIR)
// and is a silent no-op outside a mosaic pane. It is run with pi.exec (an argv,
// no shell), one call at a time, so the states arrive in the order they happened.
//
// Plain JavaScript syntax on purpose (no type annotations): pi loads it through
// jiti, and a bare `node` can load the same text.

import { fileURLToPath } from "node:url";

const HB = fileURLToPath(new URL("./mosaic-hb", import.meta.url));

export default function mosaicState(pi) {
  let queue = Promise.resolve();

  function report(state) {
    queue = queue
      .then(() => pi.exec(HB, ["state", state], { timeout: 5000 }))
      .catch(() => undefined); // a failed report must never disturb the agent
    return queue;
  }

  pi.on("session_start", async () => { await report("idle"); });
  pi.on("agent_start", async () => { await report("working"); });
  pi.on("tool_execution_start", async () => { await report("working"); });
  pi.on("agent_end", async () => { await report("idle"); });
}
