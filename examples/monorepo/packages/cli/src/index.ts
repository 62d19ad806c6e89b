import { handle } from "@demo/api";

const body = process.argv[2] ?? '{"id":"demo","amounts":[1,2,3]}';
console.log(handle(body));
console.log(`built for ${process.env.NODE_ENV}`);
