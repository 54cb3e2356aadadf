// SPDX-License-Identifier: Apache-2.0
// Invariants of AtelierEscrow under forge's invariant runner (10,000 handler calls per invariant, see
// foundry.toml): no escrow is closed (released, refunded or cancelled) twice; the contract holds exactly
// the sum of its open escrows; refunds reach only the payer, and a release pays only the provider and
// the payer their shares; a provider never receives more than its escrow was funded with.
pragma solidity ^0.8.28;

import {AtelierEscrow} from "../AtelierEscrow.sol";
import {TestToken} from "../TestToken.sol";
import {EscrowHandler} from "./EscrowHandler.sol";

contract EscrowInvariants {
    AtelierEscrow internal escrow;
    TestToken internal token;
    EscrowHandler internal handler;

    function setUp() public {
        escrow = new AtelierEscrow();
        handler = new EscrowHandler(escrow);
        token = handler.token();
    }

    /// forge drives only the handler (not the escrow or the token directly).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_noEscrowClosedTwice() public view {
        uint256 n = handler.idCount();
        for (uint256 i = 0; i < n; i++) {
            bytes32 id = handler.ids(i);
            uint256 closes = handler.closes(id);
            require(closes <= 1, "an escrow was released or refunded twice");
            (,,,,, AtelierEscrow.State state,) = escrow.escrows(id);
            require((closes == 0) == (state == AtelierEscrow.State.Open), "state disagrees with the calls accepted");
        }
    }

    function invariant_balanceIsSumOfOpenEscrows() public view {
        uint256 n = handler.idCount();
        uint256 open;
        for (uint256 i = 0; i < n; i++) {
            (,,, uint256 amount,, AtelierEscrow.State state,) = escrow.escrows(handler.ids(i));
            if (state == AtelierEscrow.State.Open) {
                require(amount == handler.funded(handler.ids(i)), "amount is not what was funded");
                open += amount;
            }
        }
        require(token.balanceOf(address(escrow)) == open, "escrow balance differs from the sum of open escrows");
    }

    function invariant_refundsOnlyReachThePayer() public view {
        require(handler.wrongRecipient() == 0, "tokens went to someone other than the payer (or provider)");
    }

    function invariant_providerNeverPaidMoreThanFunded() public view {
        uint256 n = handler.idCount();
        for (uint256 i = 0; i < n; i++) {
            bytes32 id = handler.ids(i);
            require(handler.paidToProvider(id) <= handler.funded(id), "a provider received more than was funded");
        }
    }
}
