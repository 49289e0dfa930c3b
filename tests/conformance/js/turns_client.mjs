// The npm @a2a-js/sdk client driving a multi-turn task over one binding: a message that makes the agent ask
// for input, the answer naming only the taskId, then GetTask and a streamed message. The card comes over
// HTTP; every A2A call goes over BINDING (GRPC: @a2a-js/sdk/client/grpc over @grpc/grpc-js).
// Usage: node turns_client.mjs BASE_URL ASKING_TEXT [TOKEN] [BINDING] -> one JSON summary line on stdout.
import { randomUUID } from "node:crypto";
import { Role } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions } from "@a2a-js/sdk/client";
import { GrpcTransportFactory } from "@a2a-js/sdk/client/grpc";

const [base, asking = "confirm it", token = "", binding = "GRPC"] = process.argv.slice(2);
const factory = new ClientFactory(
  ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
    ...(binding === "GRPC" ? { transports: [new GrpcTransportFactory()] } : {}),
    preferredTransports: [binding],
  }),
);
const options = token ? { serviceParameters: { authorization: `Bearer ${token}` } } : undefined;
const out = { steps: [] };
const message = (text, taskId = "") => ({
  messageId: randomUUID(), role: Role.ROLE_USER, contextId: "", taskId,
  parts: [{ content: { $case: "text", value: text }, metadata: {}, filename: "", mediaType: "" }],
  metadata: {}, extensions: [], referenceTaskIds: [],
});
const taskOf = (sent) => (sent?.payload?.$case === "task" ? sent.payload.value : sent);
try {
  const client = await factory.createFromUrl(base);
  const card = await client.getAgentCard();
  out.card = card.name;
  out.transport = client.transport?.protocolName ?? client.transport?.constructor?.name;
  const first = taskOf(await client.sendMessage({ message: message(asking), tenant: "", metadata: {} }, options));
  out.steps.push("ask");
  out.first = { id: first.id, contextId: first.contextId, state: first.status?.state };
  const second = taskOf(await client.sendMessage({ message: message("yes", first.id), tenant: "", metadata: {} }, options));
  out.steps.push("answer");
  out.second = { id: second.id, contextId: second.contextId, state: second.status?.state };
  const got = await client.getTask({ id: first.id, tenant: "" }, options);
  out.got = { id: got.id, state: got.status?.state, artifacts: got.artifacts?.length ?? 0 };
  out.steps.push("get");
  const kinds = [];
  for await (const event of client.sendMessageStream({ message: message("streamed"), tenant: "", metadata: {} }, options)) {
    kinds.push(event?.payload?.$case ?? Object.keys(event ?? {})[0]);
  }
  out.streamed = kinds;
  out.steps.push("stream");
  out.ok = true;
} catch (error) {
  out.ok = false;
  out.error = String(error?.stack ?? error);
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0); // gRPC channels keep the event loop alive
