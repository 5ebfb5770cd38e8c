"""The public reader pages of a review (``reader``) and its PRISMA diagram (``prisma``): views
translate HTTP, selectors read, figures draw."""
