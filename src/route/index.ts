// route/: applies desired routes and rules through netlink, idempotently; reads them back.
export * from './kernel.js';
export * from './router.js';
export { FakeKernel } from './fake.js';
export * from './nexthop.js';
export * from './watch.js';
