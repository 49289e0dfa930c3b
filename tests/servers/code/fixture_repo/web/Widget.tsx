import React from "react";

interface WidgetProps {
  title: string;
}

export function Widget({ title }: WidgetProps) {
  return <div className="widget">{renderTitle(title)}</div>;
}

function renderTitle(title: string) {
  return <h1>{title}</h1>;
}
