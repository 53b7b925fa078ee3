import { Either } from "effect"

/** The value of a `Right`; throws (failing the test) with the error's message for a `Left`. */
export const rightOf = <A, E extends { readonly message: string }>(result: Either.Either<A, E>): A => {
  if (Either.isLeft(result)) throw new Error(`expected a value, got: ${result.left.message}`)
  return result.right
}

/** The error of a `Left`; throws (failing the test) for a `Right`. */
export const leftOf = <A, E>(result: Either.Either<A, E>): E => {
  if (Either.isRight(result)) throw new Error("expected an error, got a value")
  return result.left
}

/** What `f` throws, or undefined when it returns. */
export const thrownBy = (f: () => unknown): unknown => {
  try {
    f()
    return undefined
  } catch (error) {
    return error
  }
}
