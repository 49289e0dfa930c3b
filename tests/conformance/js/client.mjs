// The npm @a2a-js/sdk client calling an A2A agent (ours, in the tests): discovery, send, get, stream, cancel.
// Usage: node client.mjs BASE_URL BINDING  (BINDING: JSONRPC or HTTP+JSON) -> one JSON summary line on stdout.
import { randomUUID } from "node:crypto";
import { Role } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions } from "@a2a-js/sdk/client";

const [base, binding = "JSONRPC", text = "hello from @a2a-js/sdk"] = process.argv.slice(2);
const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { preferredTransports: [binding] }));
const out = { binding, steps: [] };
try {
  const client = await factory.createFromUrl(base);
  const card = await client.getAgentCard();
  out.card = card.name;
  // what the agent says it accepts: text where it takes text/plain, else a JSON data part
  const modes = card.defaultInputModes ?? [];
  const part = modes.length === 0 || modes.includes("text/plain")
    ? { content: { $case: "text", value: text }, metadata: {}, filename: "", mediaType: "" }
    : { content: { $case: "data", value: { message: text } }, metadata: {}, filename: "", mediaType: "application/json" };
  out.sent = part.content.$case;
  const message = () => ({ messageId: randomUUID(), role: Role.ROLE_USER, contextId: "", taskId: "",
    parts: [part], metadata: {}, extensions: [], referenceTaskIds: [] });
  const sent = await client.sendMessage({ message: message(), tenant: "", metadata: {} });
  const task = sent?.payload?.$case === "task" ? sent.payload.value : sent;
  out.steps.push("send");
  if (task?.id) {
    out.taskId = task.id;
    const got = await client.getTask({ id: task.id, tenant: "" });
    out.state = got.status?.state;
    out.steps.push("get");
  }
  if (card.capabilities?.streaming) {
    const kinds = [];
    for await (const event of client.sendMessageStream({ message: message(), tenant: "", metadata: {} })) {
      kinds.push(event?.payload?.$case ?? event?.kind ?? Object.keys(event ?? {})[0]);
    }
    out.streamed = kinds;
    out.steps.push("stream");
  }
  out.ok = true;
} catch (error) {
  out.ok = false;
  out.error = String(error?.stack ?? error);
}
process.stdout.write(JSON.stringify(out) + "\n");
