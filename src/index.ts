// The component package's public surface; filled in by the component module.
export {};
