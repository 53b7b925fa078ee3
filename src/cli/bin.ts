// The `shardline` executable (package.json "bin"; tsup adds the #! line).
import { main } from "./index.js"

// The AWS SDK warns about Node 20 on every start; shardline supports Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

const output = {
  out: { write: (text: string) => void process.stdout.write(text), isTTY: process.stdout.isTTY === true, columns: process.stdout.columns },
  err: { write: (text: string) => void process.stderr.write(text), isTTY: process.stderr.isTTY === true, columns: process.stderr.columns }
}

main(process.argv.slice(2), output).then((code) => {
  process.exitCode = code
})
