/**
 * A tiny metrics registry that renders the Prometheus text exposition format
 * (version 0.0.4). Counters, counters split by one label, gauges read at
 * scrape time, and histograms — all that teahouse needs, no dependency.
 */

/** A count that only goes up. */
export interface Counter {
  inc(by?: number): void;
  readonly value: number;
}

/** A counter split by the values of one label (e.g. `reason`). */
export interface LabeledCounter {
  inc(labelValue: string, by?: number): void;
  value(labelValue: string): number;
}

/** Observations bucketed by upper bound (seconds, bytes, …). */
export interface Histogram {
  observe(value: number): void;
  readonly count: number;
}

export interface Registry {
  counter(name: string, help: string): Counter;
  labeledCounter(name: string, help: string, label: string): LabeledCounter;
  /** A gauge whose value is read when scraped (e.g. open connections). */
  gauge(name: string, help: string, read: () => number): void;
  histogram(name: string, help: string, buckets: readonly number[]): Histogram;
  /** Every metric in the Prometheus text format, ending with a newline. */
  render(): string;
}

/** The content type of `render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Escapes a label value: backslash, double quote and newline. */
const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** Numbers as Prometheus writes them (`+Inf`, `NaN`). */
const formatNumber = (value: number): string =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value);

/** Creates an empty registry. Names must be unique and valid Prometheus metric names. */
export const createRegistry = (): Registry => {
  const renderers: Array<() => string[]> = [];
  const names = new Set<string>();
  const register = (name: string, help: string, type: string, lines: () => string[]): void => {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${name}`);
    if (names.has(name)) throw new Error(`metric ${name} registered twice`);
    names.add(name);
    renderers.push(() => [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`, ...lines()]);
  };

  return {
    counter(name, help) {
      let value = 0;
      register(name, help, "counter", () => [`${name} ${formatNumber(value)}`]);
      return {
        inc(by = 1) {
          value += by;
        },
        get value() {
          return value;
        },
      };
    },
    labeledCounter(name, help, label) {
      const values = new Map<string, number>();
      register(name, help, "counter", () =>
        [...values].map(
          ([labelValue, value]) => `${name}{${label}="${escapeLabel(labelValue)}"} ${formatNumber(value)}`,
        ),
      );
      return {
        inc(labelValue, by = 1) {
          values.set(labelValue, (values.get(labelValue) ?? 0) + by);
        },
        value: (labelValue) => values.get(labelValue) ?? 0,
      };
    },
    gauge(name, help, read) {
      register(name, help, "gauge", () => [`${name} ${formatNumber(read())}`]);
    },
    histogram(name, help, buckets) {
      const bounds = [...buckets].sort((a, b) => a - b);
      const counts = new Array<number>(bounds.length).fill(0);
      let count = 0;
      let sum = 0;
      register(name, help, "histogram", () => [
        ...bounds.map((bound, i) => `${name}_bucket{le="${formatNumber(bound)}"} ${counts[i]}`),
        `${name}_bucket{le="+Inf"} ${count}`,
        `${name}_sum ${formatNumber(sum)}`,
        `${name}_count ${count}`,
      ]);
      return {
        observe(value) {
          count++;
          sum += value;
          // Buckets are cumulative: every bound at or above the value counts it.
          for (let i = bounds.length - 1; i >= 0 && value <= bounds[i]!; i--) counts[i]!++;
        },
        get count() {
          return count;
        },
      };
    },
    render: () => `${renderers.flatMap((lines) => lines()).join("\n")}\n`,
  };
};
