// Drives the real AcquisitionManager of code-push@4.2.3 against an otadeck server.
// Usage: node acquisition.js <path to code-push/script/acquisition-sdk.js> <json request>
// Prints one JSON line with the results of each step.
const [sdkPath, requestJson] = process.argv.slice(2);
const { AcquisitionManager, AcquisitionStatus } = require(sdkPath);
const request = JSON.parse(requestJson);

const verbs = ["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"];
const requester = {
  request(verb, url, body, callback) {
    if (typeof body === "function") { callback = body; body = undefined; }
    fetch(url, {
      method: verbs[verb],
      body,
      headers: {
        "Content-Type": "application/json",
        "X-CodePush-Plugin-Name": "react-native-code-push",
        "X-CodePush-Plugin-Version": "7.0.5",
        "X-CodePush-SDK-Version": "^4.0.5",
      },
    }).then(async (r) => callback(null, { statusCode: r.status, body: await r.text() }), (e) => callback(e));
  },
};

const call = (fn) => new Promise((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result))));

(async () => {
  const config = { serverUrl: request.serverUrl, deploymentKey: request.deploymentKey, appVersion: "1.0.0", clientUniqueId: request.clientUniqueId };
  const sdk = new AcquisitionManager(requester, config);
  const out = {};
  const remote = await call((cb) => sdk.queryUpdateWithCurrentPackage({ appVersion: "1.0.0" }, cb));
  out.fromBinary = remote;
  const bytes = Buffer.from(await (await fetch(remote.downloadUrl)).arrayBuffer());
  out.downloadedBytes = bytes.length;
  out.downloadStartsWithPK = bytes.subarray(0, 2).toString() === "PK";
  await call((cb) => sdk.reportStatusDownload(remote, cb));
  await call((cb) => sdk.reportStatusDeploy(remote, AcquisitionStatus.DeploymentSucceeded, "1.0.0", request.deploymentKey, cb));
  out.afterInstall = await call((cb) => sdk.queryUpdateWithCurrentPackage({ appVersion: "1.0.0", label: remote.label, packageHash: remote.packageHash }, cb));
  if (request.running) {
    // A device running an earlier package (label and hash), as the SDK sends it after an install.
    out.fromPackage = await call((cb) => sdk.queryUpdateWithCurrentPackage({ appVersion: "1.0.0", ...request.running }, cb));
  }
  const oldBinary = new AcquisitionManager(requester, { ...config, appVersion: "0.9.0" });
  out.oldBinary = await call((cb) => oldBinary.queryUpdateWithCurrentPackage({ appVersion: "0.9.0" }, cb));
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
