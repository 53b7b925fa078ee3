/**
 * protobuf-es keeps `google.protobuf.Struct` as a plain JSON object in every field except the
 * ones of `google.protobuf.Value`. These are its conversions (`wktStructToLocal` and
 * `wktStructToReflect` in protobuf-es 2), reproduced so generated decoders convert the same way,
 * the lossy cases included: an unset Value becomes `null`, unknown fields are dropped.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf"
import type { ListValue, Struct, Value } from "@bufbuild/protobuf/wkt"

/** The JSON object a Struct stands for in a message field. */
export const structToJson = (struct: Struct): JsonObject => {
  const json: JsonObject = {}
  for (const [key, value] of Object.entries(struct.fields)) json[key] = valueToJson(value)
  return json
}

const valueToJson = (value: Value): JsonValue => {
  switch (value.kind.case) {
    case "structValue":
      return structToJson(value.kind.value)
    case "listValue":
      return value.kind.value.values.map(valueToJson)
    case "nullValue":
    case undefined:
      return null
    default:
      return value.kind.value
  }
}

const isObject = (value: unknown): value is JsonObject =>
  value !== null && typeof value == "object" && !Array.isArray(value)

/** The Struct message a JSON object in a field stands for: what a second occurrence merges into. */
export const jsonToStruct = (json: JsonObject): Struct => {
  const struct: Struct = { $typeName: "google.protobuf.Struct", fields: {} }
  if (isObject(json)) {
    for (const [key, value] of Object.entries(json)) struct.fields[key] = jsonToValue(value)
  }
  return struct
}

const jsonToValue = (json: JsonValue): Value => {
  const value: Value = { $typeName: "google.protobuf.Value", kind: { case: undefined } }
  switch (typeof json) {
    case "number":
      value.kind = { case: "numberValue", value: json }
      break
    case "string":
      value.kind = { case: "stringValue", value: json }
      break
    case "boolean":
      value.kind = { case: "boolValue", value: json }
      break
    case "object":
      if (json === null) {
        value.kind = { case: "nullValue", value: 0 }
      } else if (Array.isArray(json)) {
        const list: ListValue = { $typeName: "google.protobuf.ListValue", values: [] }
        for (const item of json) list.values.push(jsonToValue(item))
        value.kind = { case: "listValue", value: list }
      } else {
        value.kind = { case: "structValue", value: jsonToStruct(json) }
      }
      break
  }
  return value
}
