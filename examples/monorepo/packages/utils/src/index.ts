/** Small pure helpers shared by every package. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

export function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}
