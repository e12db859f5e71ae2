// Times code-push-cli@2.1.9's own packaging of a folder: the package hash (hash-utils, used when
// signing) and the zip (AccountManager.packageFileFromPath, yazl). Prints {"hashMs":…,"zipMs":…}.
// Usage: node code_push_cli_package.js <node-clients dir> <CodePush folder>
const path = require("path");
const [clients, folder] = process.argv.slice(2);
const cli = path.join(clients, "cli2/node_modules/code-push-cli");
const hashUtils = require(path.join(cli, "script/hash-utils"));
const AccountManager = require(path.join(clients, "cli2/node_modules/code-push/script/management-sdk"));

(async () => {
  const hashStart = process.hrtime.bigint();
  const hash = await hashUtils.generatePackageHashFromDirectory(folder, path.join(folder, ".."));
  const hashMs = Number(process.hrtime.bigint() - hashStart) / 1e6;
  const zipStart = process.hrtime.bigint();
  const zipped = await AccountManager.prototype.packageFileFromPath.call(AccountManager.prototype, folder);
  const zipMs = Number(process.hrtime.bigint() - zipStart) / 1e6;
  require("fs").unlinkSync(zipped.path);
  console.log(JSON.stringify({ hash, hashMs, zipMs }));
})().catch((e) => { console.error(e); process.exit(1); });
