/**
 * Cleanup that runs even when the bench fails or is interrupted: synchronous actions (remove a
 * container, a temp directory, stop a child) registered as resources are created, run in reverse
 * order by `runAll()` from a finally block, and by the exit and signal handlers as a last resort.
 */
type Action = () => void;

const actions = new Map<number, { label: string; action: Action }>();
let nextId = 1;
let handlersInstalled = false;

/** Registers an action; the returned function runs it now (once) and unregisters it. */
export function onCleanup(label: string, action: Action): () => void {
    installHandlers();
    const id = nextId++;
    actions.set(id, { label, action });
    return () => {
        const entry = actions.get(id);
        if (entry) {
            actions.delete(id);
            runOne(entry.label, entry.action);
        }
    };
}

export function runAll(): void {
    for (const id of [...actions.keys()].reverse()) {
        const entry = actions.get(id);
        actions.delete(id);
        if (entry) {
            runOne(entry.label, entry.action);
        }
    }
}

function runOne(label: string, action: Action): void {
    try {
        action();
    } catch (error) {
        console.error(`cleanup (${label}) failed: ${error instanceof Error ? error.message : String(error)}`);
    }
}

function installHandlers(): void {
    if (handlersInstalled) {
        return;
    }
    handlersInstalled = true;
    process.on("exit", runAll);
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.once(signal, () => {
            console.error(`\nbench: ${signal}, cleaning up`);
            runAll();
            process.exit(130);
        });
    }
}
