// route/: rtnetlink routes and rules: the pure planner, the router that applies a desired state
// idempotently and reads it back, the route and rule event watch; a fake kernel beside the real one.
export * from './kernel.js';
export { DefaultRouteBook, defaultsOfMessage, defaultsOfRoute } from './learnt.js';
export * from './plan.js';
export * from './router.js';
export { FakeKernel } from './fake.js';
export * from './watch.js';
