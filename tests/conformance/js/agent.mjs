// An independent A2A 1.0 agent built with the npm @a2a-js/sdk (JSON-RPC + HTTP+JSON), for the Python kit to check.
// Usage: node agent.mjs  -> prints "READY <base-url>" on stdout once listening on an ephemeral port.
import express from "express";
import { randomUUID } from "node:crypto";
import { Role, TaskState } from "@a2a-js/sdk";
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from "@a2a-js/sdk/server";
import { agentCardHandler, jsonRpcHandler, restHandler, UserBuilder } from "@a2a-js/sdk/server/express";

const textOf = (message) =>
  (message?.parts ?? []).map((p) => (p.content?.$case === "text" ? p.content.value : "")).join(" ");

const status = (state, text, taskId, contextId) => ({
  state,
  message: text
    ? { messageId: randomUUID(), role: Role.ROLE_AGENT, parts: [{ content: { $case: "text", value: text } }],
        taskId, contextId, metadata: {}, extensions: [], referenceTaskIds: [] }
    : undefined,
  timestamp: new Date().toISOString(),
});

class UpperExecutor {
  cancelled = new Set();
  async execute(ctx, bus) {
    const { taskId, contextId } = ctx;
    const text = textOf(ctx.userMessage);
    const task = ctx.task ?? {
      id: taskId, contextId, status: status(TaskState.TASK_STATE_SUBMITTED, "", taskId, contextId),
      artifacts: [], history: [ctx.userMessage], metadata: {},
    };
    bus.publish(AgentEvent.task(task));
    const update = (state, words) =>
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(state, words, taskId, contextId), metadata: {} }));
    update(TaskState.TASK_STATE_WORKING, "");
    const resumed = ctx.task?.status?.state === TaskState.TASK_STATE_INPUT_REQUIRED;
    if (text.toLowerCase().startsWith("confirm") && !resumed) {
      update(TaskState.TASK_STATE_INPUT_REQUIRED, "Please say yes or no.");
      bus.finished();
      return;
    }
    if (text.toLowerCase().includes("wait")) {
      for (let i = 0; i < 100 && !this.cancelled.has(taskId); i++) await new Promise((r) => setTimeout(r, 100));
      if (this.cancelled.has(taskId)) { bus.finished(); return; }
    }
    bus.publish(AgentEvent.artifactUpdate({
      taskId, contextId, append: false, lastChunk: true, metadata: {},
      artifact: { artifactId: randomUUID(), name: "upper", description: "", metadata: {}, extensions: [],
                  parts: [{ content: { $case: "text", value: text.toUpperCase() }, metadata: {}, filename: "", mediaType: "" }] },
    }));
    update(TaskState.TASK_STATE_COMPLETED, "");
    bus.finished();
  }
  async cancelTask(taskId, bus) {
    this.cancelled.add(taskId);
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: "", status: status(TaskState.TASK_STATE_CANCELED, "", taskId, ""), metadata: {} }));
    bus.finished();
  }
}

const app = express();
const server = app.listen(0, "127.0.0.1", () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const card = {
    name: "js-upper", description: "Upper-cases text (an @a2a-js/sdk sample agent).", version: "1.0.0",
    supportedInterfaces: [
      { url: `${base}/a2a/jsonrpc`, protocolBinding: "JSONRPC", protocolVersion: "1.0", tenant: "" },
      { url: `${base}/a2a/rest`, protocolBinding: "HTTP+JSON", protocolVersion: "1.0", tenant: "" },
    ],
    capabilities: { streaming: true, pushNotifications: false, extensions: [] },
    defaultInputModes: ["text/plain"], defaultOutputModes: ["text/plain"],
    skills: [{ id: "upper", name: "Upper", description: "Upper-case text", tags: ["text"], examples: [],
               inputModes: [], outputModes: [], securityRequirements: [] }],
    securitySchemes: {}, securityRequirements: [], signatures: [],
  };
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new UpperExecutor());
  app.use("/.well-known/agent-card.json", agentCardHandler({ agentCardProvider: handler }));
  app.use("/a2a/jsonrpc", jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  app.use("/a2a/rest", restHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  process.stdout.write(`READY ${base}\n`);
});
process.stdin.on("end", () => server.close(() => process.exit(0)));
process.stdin.resume();
