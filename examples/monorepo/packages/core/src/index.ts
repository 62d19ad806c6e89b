import { sum } from "@demo/utils";
import { createLogger } from "@demo/logger";

export interface Order {
  id: string;
  amounts: number[];
}

const log = createLogger("Order Core");

/** The total of an order, with a log line describing it. */
export function total(order: Order): { total: number; line: string } {
  const value = sum(order.amounts);
  return { total: value, line: log("info", `order ${order.id} totals ${value}`) };
}
