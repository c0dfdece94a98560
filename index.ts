import { MtlsEndpoint, outputsOf, stackEndpointName } from "./components/mtlsEndpoint";
import { readStackConfigArgs } from "./config/readStackConfig";
import { skipSourceMapsForPromiseStacks } from "./program/promiseStackTraces";
import { trimSdkBookkeeping } from "./program/sdkBookkeeping";
import { startReadingPreviousResources } from "./rotation/previousOutputs";

// Before any resource: the SDK's per-resource diagnostics cost a quarter of a no-op preview at scale.
trimSdkBookkeeping();
skipSourceMapsForPromiseStacks();

// The project's own stack is one consumer of its component: the stack config's keys are its args.
// They are validated here first, so that a problem names the stack config key (mtls-nginx:KEY),
// before any resource is registered: bad config changes nothing.
const args = readStackConfigArgs(__dirname);

// Every output of the endpoint is a stack output, under the names of docs/outputs.md (a contract: they stay).
// The last deployment's records are asked for before the endpoint builds its resources, so that the
// engine reads them meanwhile (rotation/previousOutputs.ts).
export = startReadingPreviousResources().then(() => outputsOf(new MtlsEndpoint(stackEndpointName, args)));
