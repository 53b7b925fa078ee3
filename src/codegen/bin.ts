import { runNodeJs } from "@bufbuild/protoplugin"
import { protocGenShardline } from "./index.js"

runNodeJs(protocGenShardline)
