/** A reservation's change history (GET /v1/reservations/{id}/changes): what supply changes and short picks did to it, and why. */
import { createRoute, z } from '@hono/zod-openapi';
import { getReservation } from '../../services/reservations/reservations.js';
import { reservationChanges } from '../../services/supply/supply.js';
import { visibility } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { jsonResponse, problemResponses, ReservationIdParams } from '../schemas.js';
import { ReservationChange } from '../supply-schemas.js';

export function reservationChangeRoutes(app: Router, deps: AppDeps) {
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/reservations/{id}/changes',
      tags: ['reservations'],
      summary: 'What happened to a reservation after it was made: backorders filled, re-promised, re-sourced, short — and why',
      request: { params: ReservationIdParams },
      responses: { 200: jsonResponse(z.object({ changes: z.array(ReservationChange) }), 'the changes, oldest first'), ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const p = c.get('principal');
      const { id } = c.req.valid('param');
      await getReservation(db, id, { visible: visibility(p) }); // 404 when not visible
      return c.json({ changes: await reservationChanges(db, id) }, 200);
    },
  );
}
