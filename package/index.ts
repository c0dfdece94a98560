/**
 * The npm package's entry point (`import { MtlsEndpoint } from "mtls-nginx"`): the component, its args
 * and outputs, the switch that trims the SDK's per-resource diagnostics, and the early read of the
 * last deployment. `npm run package` compiles it with the product code into dist/package/.
 */
export {
    MtlsEndpoint,
    mtlsEndpointType,
    outputsOf,
    type ClientCsrArgs,
    type ClientEntryArgs,
    type LocationArgs,
    type MtlsEndpointArgs,
    type MtlsEndpointOutputs,
} from "../components/mtlsEndpoint";
// For a program of one's own with many clients: the SDK's per-resource diagnostics off (program/sdkBookkeeping.ts).
export { trimSdkBookkeeping } from "../program/sdkBookkeeping";
// For a program of one's own: begin reading the last deployment before constructing the endpoint (rotation/previousOutputs.ts).
export { startReadingPreviousResources } from "../rotation/previousOutputs";
