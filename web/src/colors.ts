// Class colours: the server's colour for each class id, a stable hue for ids it does not know
// yet (a class created in this session before it is saved).
import { ClassInfo } from "./api";

export function fallbackColor(id: number): string {
  return `hsl(${(id * 137.508) % 360}, 85%, 55%)`;
}

export function classColors(classes: ClassInfo[]): (id: number) => string {
  const m = new Map(classes.map((c) => [c.id, c.color]));
  return (id: number) => m.get(id) ?? fallbackColor(id);
}
