export { detectCgroups, EXECUTIONS_IO_WEIGHT_V2, REQUIRED_CONTROLLERS, type CgroupController, type CgroupHierarchy, type CgroupHost, type DetectOptions } from './detect.js';
export { createExecutionGroup, createSpareGroup, limitsKey, openExecutionGroup, ExecutionGroup, type ExecutionLimits, type ExecutionStats } from './group.js';
export { releaseWorkerDir, sweepLeftovers, workerAlive, type SweepResult } from './sweep.js';
export { describeCgroups } from './describe.js';
export { blockDevicesOf, throttleableDevices, weightedDevices, type IoThrottle } from './io.js';
export { capWorkerDir, openServersGroup, serversGroup, workerDirLimits, SERVERS_GROUP, type SlotCapacity } from './capacity.js';
export { SpareGroups, SPARE_PREFIX } from './spares.js';
