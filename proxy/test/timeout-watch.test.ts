/** The one timer that times every exchange and idle connection: its list stays whole while checks remove some. */
import { TimeoutWatch, type Watched } from "../src/server/timeout-watch";

class Item implements Watched {
  watchIndex = -1;
  checks = 0;
  constructor(
    readonly name: string,
    private readonly onCheck: (self: Item) => void = () => undefined,
  ) {}
  checkTimeouts(): void {
    this.checks++;
    this.onCheck(this);
  }
}

function contents(watch: TimeoutWatch, items: Item[]): string[] {
  const watched = items.filter((x) => x.watchIndex >= 0);
  expect(watched.length).toBe(watch.size);
  // Every index is used once, by the item that holds it.
  expect(new Set(watched.map((x) => x.watchIndex)).size).toBe(watched.length);
  return watched.map((x) => x.name).sort();
}

describe("TimeoutWatch", () => {
  let watch: TimeoutWatch;
  beforeEach(() => (watch = new TimeoutWatch()));
  afterEach(() => watch.stop());

  it("removes any item in constant time and keeps the others' places right", () => {
    const items = ["a", "b", "c", "d", "e"].map((n) => new Item(n));
    for (const x of items) watch.add(x);
    watch.add(items[0]!); // twice: still once
    expect(contents(watch, items)).toEqual(["a", "b", "c", "d", "e"]);
    watch.remove(items[1]!);
    watch.remove(items[1]!); // twice: no effect
    watch.remove(items[4]!);
    expect(contents(watch, items)).toEqual(["a", "c", "d"]);
    watch.sweep();
    expect(items.map((x) => x.checks)).toEqual([1, 0, 1, 1, 0]);
  });

  it("checks every item in each sweep while checks remove items, their own or others", () => {
    const items: Item[] = [];
    const removeSelf = (self: Item): void => watch.remove(self);
    items.push(new Item("a"), new Item("b", removeSelf), new Item("c"), new Item("d", removeSelf), new Item("e", () => watch.remove(items[0]!)), new Item("f", removeSelf));
    for (const x of items) watch.add(x);
    watch.sweep();
    // "a" was removed by "e" before its turn came; everything else was checked, "e" twice since it took
    // the place of "a" (harmless: a check only compares times).
    expect(items.map((x) => x.checks)).toEqual([0, 1, 1, 1, 2, 1]);
    expect(contents(watch, items)).toEqual(["c", "e"]);
    watch.sweep();
    expect(items.map((x) => x.checks)).toEqual([0, 1, 2, 1, 3, 1]);
  });
});
