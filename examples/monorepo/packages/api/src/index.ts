import { total, type Order } from "@demo/core";

/** Handles a request body the way an HTTP handler would. */
export function handle(body: string): string {
  const order = JSON.parse(body) as Order;
  return JSON.stringify(total(order));
}
