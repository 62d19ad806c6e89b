import { total } from "@demo/core";

export function render(amounts: number[]): string {
  const { total: value } = total({ id: "web", amounts });
  return `<p>Total: ${value}</p>`;
}
