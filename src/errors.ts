/**
 * A bad argument of {@link OpenAICompatibleProvider}: `argument` names the argument (dotted path,
 * as written in the args object) and `message` says what is wrong and how to fix it.
 *
 * The pure validation and rendering functions throw this; the component turns it into a
 * `pulumi.ResourceError` attached to itself, so `pulumi preview` reports it against the component
 * before any child is created. Match on `code`, not `instanceof`, across package copies.
 */
export class ProviderArgumentError extends Error {
    /** Stable code for every error of this kind. */
    readonly code = "OPENAI_COMPATIBLE_PROVIDER_INVALID_ARGUMENT";

    constructor(
        /** The argument at fault, e.g. `route.pathPrefix`. */
        readonly argument: string,
        message: string,
    ) {
        super(message);
        this.name = "ProviderArgumentError";
    }
}

/** Whether `err` is a {@link ProviderArgumentError} (by its stable `code`). */
export function isProviderArgumentError(err: unknown): err is ProviderArgumentError {
    return (
        typeof err === "object" &&
        err !== null &&
        (err as { code?: unknown }).code === "OPENAI_COMPATIBLE_PROVIDER_INVALID_ARGUMENT"
    );
}
