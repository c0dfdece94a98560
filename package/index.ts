/**
 * The npm package's entry point (`import { MtlsEndpoint } from "mtls-nginx"`): the component, its args
 * and outputs, and nothing else. `npm run package` compiles it with the product code into dist/package/.
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
