// The Node.js reference for the cold-start benchmark: what public Node Flex backends do.
// It loads Twilio's helper library at start, then serves the Lambda Runtime API loop, minting a
// chat token per event. Run with NODE_PATH pointing at tools/npm/node_modules.
"use strict";
const http = require("node:http");
const twilio = require("twilio");
const { AccessToken } = twilio.jwt;
const { ChatGrant } = AccessToken;

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const agent = new http.Agent({ keepAlive: true });

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const [host, port] = api.split(":");
    const req = http.request({ host, port, method, path, agent }, (res) => {
      let data = "";
      res.on("data", (chunk) => (data += chunk));
      res.on("end", () => resolve({ headers: res.headers, body: data }));
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

async function main() {
  for (;;) {
    const next = await call("GET", "/2018-06-01/runtime/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    const token = new AccessToken(process.env.TWILIO_ACCOUNT_SID, process.env.TWILIO_API_KEY_SID,
      process.env.TWILIO_API_KEY_SECRET, { identity: `guest-${id}`, ttl: 3600 });
    token.addGrant(new ChatGrant({ serviceSid: process.env.TWILIO_CHAT_SERVICE_SID }));
    const body = JSON.stringify({ statusCode: 200, body: JSON.stringify({ token: token.toJwt() }) });
    await call("POST", `/2018-06-01/runtime/invocation/${id}/response`, body);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
