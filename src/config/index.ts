/**
 * Validation of user options into typed {@link InvalidOption} errors.
 * @module
 */
export { durationOption, integerOption, InvalidOption, textOption } from "./InvalidOption.js"
