import * as assert from "assert";
import { RawStackConfig, StackConfigError, validateStackConfig } from "../config/stackConfig";
import type { ConfigContext } from "../config/types";

/** The error validating `raw` raises: the test fails when the config is accepted or fails otherwise. */
export function configRejection(raw: RawStackConfig, context: ConfigContext): StackConfigError {
    try {
        validateStackConfig(raw, context);
    } catch (error) {
        assert.ok(error instanceof StackConfigError, String(error));
        return error;
    }
    assert.fail("accepted");
}
