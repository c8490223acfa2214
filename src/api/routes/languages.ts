import type { App, RouteContext } from '../context.js';
import { languageView } from '../views.js';
import { errors } from '../schemas/common.js';
import { LanguageListResponse } from '../schemas/languages.js';

export function languageRoutes(app: App, ctx: RouteContext): void {
  app.get(
    '/languages',
    {
      schema: {
        tags: ['languages'],
        summary: 'List the languages of sandbox-profiles/',
        description: 'With each one\'s version and whether its toolchain is installed on this host (a session in an unavailable language gets 422).',
        response: { 200: LanguageListResponse, ...errors(500, 503) },
      },
    },
    async () => ctx.languages.list().map(languageView),
  );
}
