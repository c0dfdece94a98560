/** A client of an MtlsEndpoint that brings its own key (an entry of the `clients` arg). */
export interface ClientCsrArgs {
    /** The client's name: its certificate's CN, and the CN its CSR must carry. */
    name: string;
    /** PEM CERTIFICATE REQUEST the CA signs; the stack holds no key for this client. */
    csr: string;
}

/**
 * One entry of the `clients` arg: a client name (the stack makes the key), or a ClientCsrArgs. The
 * component schema has no union types, so the entry is typed `any` here (the schema's Any); every
 * entry is validated before any resource is registered, naming the arg and what is allowed.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ClientEntryArgs = string | ClientCsrArgs | any;
