import { LeaseStore } from "../src/lease/index.js"
import { leaseStoreContract } from "./support/leaseContract.js"

leaseStoreContract("memory", LeaseStore.layerMemory)
