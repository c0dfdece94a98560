/**
 * The time rotation decisions are made at. Always the real time, except in tests: MTLS_NOW (an
 * RFC 3339 time with its zone, e.g. 2027-03-01T12:00:00Z) moves the clock the program decides by, so
 * a test can make a certificate due without waiting for it (`tests/e2e/renew.test.ts`). Certificates
 * are still issued at the real time; only the question "is it in its renewal window?" is asked at
 * MTLS_NOW. Never set it on a real deployment: every run then warns that the clock is overridden.
 */
import * as pulumi from "@pulumi/pulumi";

/** The environment variable of the test-only clock override. */
export const clockOverrideVariable = "MTLS_NOW";

// A date, a time to the minute at least, and an explicit zone: local time would differ per machine.
const rfc3339 = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(?:Z|[+-](\d\d):(\d\d))$/i;

/** The time `text` names, or undefined: also for a date that does not exist (Date would roll 02-30 over). */
function parseTime(text: string): Date | undefined {
    const fields = rfc3339.exec(text);
    if (!fields) {
        return undefined;
    }
    const [year, month, day, hours, minutes, seconds = "0", zoneHours = "0", zoneMinutes = "0"] = fields.slice(1);
    const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate();
    const valid =
        Number(month) >= 1 &&
        Number(month) <= 12 &&
        Number(day) >= 1 &&
        Number(day) <= daysInMonth &&
        Number(hours) <= 23 &&
        Number(minutes) <= 59 &&
        Number(seconds) <= 59 &&
        Number(zoneHours) <= 23 &&
        Number(zoneMinutes) <= 59;
    const time = new Date(text);
    return valid && !Number.isNaN(time.getTime()) ? time : undefined;
}

/**
 * The overriding time in `environment` (MTLS_NOW), or undefined when it is unset or empty. Throws a
 * RunError (a message without a stack trace) when the value is not an RFC 3339 time with a zone.
 */
export function clockOverride(environment: NodeJS.ProcessEnv = process.env): Date | undefined {
    const text = environment[clockOverrideVariable]?.trim();
    if (text === undefined || text === "") {
        return undefined;
    }
    const time = parseTime(text);
    if (time === undefined) {
        throw new pulumi.RunError(
            `${clockOverrideVariable}=${JSON.stringify(text)} is not a time; allowed: an RFC 3339 time with its zone, ` +
                `e.g. 2027-03-01T12:00:00Z (or unset ${clockOverrideVariable}: it is for tests only)`,
        );
    }
    return time;
}

let warned = false;

/** Now, or MTLS_NOW when a test sets it (with a warning, once per process, that the clock is overridden). */
export function currentTime(environment: NodeJS.ProcessEnv = process.env): Date {
    const override = clockOverride(environment);
    if (override === undefined) {
        return new Date();
    }
    if (!warned) {
        warned = true;
        void pulumi.log.warn(
            `${clockOverrideVariable}=${override.toISOString()} overrides the clock of rotation decisions (for tests only)`,
        );
    }
    return override;
}
