"""Every carrier end to end: a fake of each carrier's side against the real gateway."""
