export declare const ROOT: string;
export declare const DIST: string;
export declare const BUILD_INFO: string;
export type DistState = { fresh: true } | { fresh: false; reason: string };
export declare function distState(root?: string): DistState;
