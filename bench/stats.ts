/** Small statistics helpers (no dependencies). */

/** Nearest-rank percentile of sorted values, p in [0, 100]; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
    if (sorted.length === 0) {
        return Number.NaN;
    }
    const rank = Math.ceil((p / 100) * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
    const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
    if (finite.length === 0) {
        return Number.NaN;
    }
    const middle = Math.floor(finite.length / 2);
    return finite.length % 2 === 1 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
}

export function ratio(numerator: number, denominator: number): number {
    return Number.isFinite(numerator) && Number.isFinite(denominator) && denominator > 0
        ? numerator / denominator
        : Number.NaN;
}
