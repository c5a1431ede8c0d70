// Drives the official OpenAI and Anthropic SDKs unchanged: they read
// *_BASE_URL and *_API_KEY, which nono points at its gateway and a phantom.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
const oa = new OpenAI();
let out = "";
const s = await oa.chat.completions.create({model: "gpt-test", messages: [{role: "user", content: "hi"}], stream: true});
for await (const ch of s) out += ch.choices[0]?.delta?.content ?? "";
console.log("OPENAI:" + out);
const an = new Anthropic();
let txt = "";
const m = await an.messages.create({model: "claude-test", max_tokens: 16, messages: [{role: "user", content: "hi"}], stream: true});
for await (const ev of m) if (ev.type === "content_block_delta") txt += ev.delta.text;
console.log("ANTHROPIC:" + txt);
console.log("ENV-OPENAI-KEY-LEN:" + (process.env.OPENAI_API_KEY || "").length);
